// Kernel-free widget previews: build each preview's controls from its JSON spec and swap
// the precomputed picture (and caption) when a control moves. No network, no kernel.
(function () {
  "use strict";

  function setUp(root) {
    var spec = JSON.parse(root.querySelector(".genlab-preview-spec").textContent);
    var box = root.querySelector(".genlab-preview-controls");
    var img = root.querySelector(".genlab-preview-frame");
    var caption = root.querySelector(".genlab-preview-caption");
    var inputs = [];

    function current() {
      return inputs.map(function (input) { return input.valueOf_(); }).join("__");
    }
    function show() {
      var frame = spec.frames[current()];
      if (!frame) { return; }
      img.src = frame.src;
      caption.textContent = frame.caption;
      root.setAttribute("data-frame", current());
    }

    spec.controls.forEach(function (control) {
      var label = document.createElement("label");
      var name = document.createElement("span");
      name.textContent = control.name;
      label.appendChild(name);
      var input;
      if (control.kind === "select") {
        input = document.createElement("select");
        control.values.forEach(function (value, i) {
          var option = document.createElement("option");
          option.value = value;
          option.textContent = control.labels[i];
          input.appendChild(option);
        });
        input.value = control.value;
        input.valueOf_ = function () { return input.value; };
        label.appendChild(input);
      } else {
        input = document.createElement("input");
        input.type = "range";
        input.min = 0;
        input.max = control.values.length - 1;
        input.step = 1;
        input.value = Math.max(0, control.values.indexOf(control.value));
        var readout = document.createElement("output");
        input.valueOf_ = function () { return control.values[Number(input.value)]; };
        var update = function () { readout.textContent = control.labels[Number(input.value)]; };
        input.addEventListener("input", update);
        update();
        label.appendChild(input);
        label.appendChild(readout);
      }
      input.className = "genlab-preview-input";
      input.setAttribute("aria-label", control.name);
      input.addEventListener("input", show);
      input.addEventListener("change", show);
      inputs.push(input);
      box.appendChild(label);
    });
    show();
  }

  function start() {
    document.querySelectorAll(".genlab-preview").forEach(setUp);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

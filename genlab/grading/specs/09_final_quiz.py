"""Chapter 09 is a quiz: every test cell's hidden region is its answer key (no exercises)."""

EXERCISES = []

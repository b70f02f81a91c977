"""The request path: parsing, the pipeline of steps, dispatch with fallback, and its HTTP fronts."""

// Renders the equations that pymdownx.arithmatex marks (\( \) inline, \[ \] display) with the
// bundled KaTeX, so they show without network access; re-run on every page of instant loading.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
  });
});

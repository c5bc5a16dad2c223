// What the Node conformance scripts share (as conformance/checks.py does for Python):
// report-or-fail checks and polling with a deadline.

// Prints `ok: what`, or ends the run with `FAILED: what` and exit status 1 (a failed
// conformance run, reported by conformance/run.py; nothing is skipped).
function check(what, ok) {
  if (!ok) {
    console.log(`FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

// Polls `predicate` every 100 ms; fails the run when it stays false past the deadline.
async function waitFor(what, predicate, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) check(`timed out waiting for ${what}`, false);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

module.exports = { check, waitFor };

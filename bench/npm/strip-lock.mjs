// Prints a package-lock.json with "resolved" and "funding" removed, so the
// committed lock file names no registry or other host.
import { readFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync(process.argv[2], 'utf8'));
for (const pkg of Object.values(lock.packages ?? {})) {
  delete pkg.resolved;
  delete pkg.funding;
}
process.stdout.write(`${JSON.stringify(lock, null, 2)}\n`);

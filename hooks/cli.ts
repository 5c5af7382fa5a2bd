// Entry of the `nkit` command (see bin/nkit).
import { main } from '../src/cli/main';

void main(process.argv).then((code) => {
  if (code !== 0) process.exitCode = code;
});

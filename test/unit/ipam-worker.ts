// A child process for the IPAM tests: allocates for one id and prints the
// leases as JSON (NKIT_FAULT may kill it half-way).
import { allocate } from '../../src/ipam/ipam';
import { parsePrefix } from '../../src/ipam/cidr';

const [runDir, id, ...subnets] = process.argv.slice(2);
const leases = allocate({ runDir: runDir!, network: 'default' }, id!, subnets.map(parsePrefix));
process.stdout.write(JSON.stringify(leases));

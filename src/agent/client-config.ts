// Where the agent listens: <runDir>/nkitd.sock. The native hook client finds
// runDir in the same config file the hook would read.
import * as path from 'node:path';

export const AGENT_SOCKET_NAME = 'nkitd.sock';
export const agentSocketPath = (runDir: string): string => path.join(runDir, AGENT_SOCKET_NAME);

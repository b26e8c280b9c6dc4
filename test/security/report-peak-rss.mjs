// Preloaded into a CLI child (`node --import`): writes its peak resident set size in bytes to
// $DBB_PEAK_RSS_FILE when it exits, however it exits (process.exit included).
import { writeFileSync } from 'node:fs';

const file = process.env.DBB_PEAK_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS * 1024)));

// Writes each ```ts block of the installed package's README to readme/<n>.ts, for tsc.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const readme = join(dirname(createRequire(import.meta.url).resolve("convq/package.json")), "README.md");
const blocks = [...readFileSync(readme, "utf8").matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
if (blocks.length === 0) throw new Error(`no \`\`\`ts block in ${readme}`);
mkdirSync("readme", { recursive: true });
blocks.forEach((block, i) => writeFileSync(join("readme", `snippet-${i + 1}.ts`), block));
console.log(`README: ${blocks.length} TypeScript snippets`);

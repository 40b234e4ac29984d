/**
 * Regenerates the reference outputs `<case>.ovs.txt` of this corpus from a real Open vSwitch:
 *
 *     npx tsx test/ofproto/corpus/record.ts [CASE…]
 *
 * For each `*.case` file (or only the named ones) it starts a fresh OvsSandbox, sets the case up
 * (runCaseInOvs) and writes every trace's `ovs-appctl ofproto/trace` output, recirculation ids
 * renumbered from 1 (normaliseRecircIds), one block per trace line:
 *
 *     #### trace 1 (line 12): in_port=1,ip,nw_dst=10.0.0.5
 *     Flow: …
 *
 * These files are a reading aid for whoever implements the emulator's trace; the differential
 * test (../trace-ovs.test.ts) always compares with a live OVS, never with them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { CORPUS_DIR, loadCorpus, runCaseInOvs } from './cases.js';
import { OvsSandbox, normaliseRecircIds, parseTrace } from '../../oracle/ovs.js';

async function main(): Promise<void> {
  const only = new Set(process.argv.slice(2).map((a) => a.replace(/\.case$/, '').replace(/^.*\//, '')));
  const cases = loadCorpus().filter((c) => only.size === 0 || only.has(c.name));
  if (only.size && cases.length !== only.size) throw new Error(`unknown case among ${[...only].join(', ')}`);
  const version = execFileSync('ovs-vswitchd', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  let failed = 0;
  for (const c of cases) {
    const ovs = await OvsSandbox.start();
    try {
      const texts = await runCaseInOvs(ovs, c);
      const blocks = texts.map((t, i) => {
        const tr = c.traces[i]!;
        parseTrace(t); // must parse: Flow, Megaflow and Datapath actions in every translation
        return `#### trace ${i + 1} (line ${tr.line}): ${tr.args.join(' ')}\n${normaliseRecircIds(t).trimEnd()}\n`;
      });
      const head = `# ${c.name}.case traced by ${version} (dummy datapath), recorded by record.ts; recirc ids renumbered.\n`
        + '# Reference only: trace-ovs.test.ts compares with a live OVS.\n\n';
      writeFileSync(join(CORPUS_DIR, `${c.name}.ovs.txt`), head + blocks.join('\n'));
      console.log(`${c.name}: ${texts.length} trace(s)`);
    } catch (e) {
      failed++;
      console.error(`${c.name}: FAILED\n${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await ovs.stop();
    }
  }
  if (failed) {
    console.error(`${failed} case(s) failed`);
    process.exitCode = 1;
  }
}

await main();

/**
 * Writes the JSON Schema files of the package into `schemas/` from the TypeBox
 * source (run by `build`). Files are rewritten only when their contents change, and
 * files no longer produced are removed.
 *
 *   emit-schemas [--check] [dir]
 *
 * `--check` writes nothing and exits with status 1 when `schemas/` differs from what
 * the source produces. So does a run with `CI` set: a build in CI must not quietly
 * repair schema files that were not committed.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { renderSchemaFiles } from '../src/schema-files.js';

async function listJsonFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.json'))
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'));
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
  const check = args.includes('--check') || ci;
  const dir = args.find((arg) => !arg.startsWith('--')) ?? 'schemas';

  const files = renderSchemaFiles();
  const produced = new Set(files.map((file) => file.path));
  const changed: string[] = [];
  for (const file of files) {
    const target = join(dir, file.path);
    if ((await readOrUndefined(target)) === file.contents) continue;
    changed.push(file.path);
    if (!check) {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.contents);
    }
  }
  const stale = (await listJsonFiles(dir)).filter((path) => !produced.has(path));
  if (!check) for (const path of stale) await rm(join(dir, path));

  if (check) {
    if (changed.length === 0 && stale.length === 0) return 0;
    for (const path of changed) console.error(`schemas/${path} differs from the TypeBox source`);
    for (const path of stale) console.error(`schemas/${path} is no longer produced`);
    console.error(
      'Run `pnpm --filter @wirthforge/events build` (without CI set) and commit schemas/.',
    );
    return 1;
  }
  if (changed.length > 0 || stale.length > 0) {
    console.log(
      `schemas/: ${changed.length} file(s) written, ${stale.length} removed; commit them.`,
    );
  }
  return 0;
}

process.exitCode = await main();

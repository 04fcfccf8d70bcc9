/* global URL, console */
// Writes openapi.json from the routes' schemas (run after `pnpm build`), formatted as the
// repository's prettier formats JSON.
import { writeFileSync } from 'node:fs';
import { format } from 'prettier';
import { openApiDocument } from '../dist/openapi-document.js';

const file = new URL('../openapi.json', import.meta.url);
const text = await format(JSON.stringify(await openApiDocument()), { parser: 'json' });
writeFileSync(file, text);
console.log(`wrote ${file.pathname}`);

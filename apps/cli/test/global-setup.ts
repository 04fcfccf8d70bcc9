/**
 * Records the fixture data directory once for every test file of the run (in-process,
 * spawned and daemon tests alike); each test copies it with `fixtureDataDir()`.
 */
import type { TestProject } from 'vitest/node';

import { recordFixture, tempDir } from './fixtures.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The recorded fixture data directory (a template: tests copy it, never write it). */
    fixtureTemplate: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const template = tempDir('template');
  await recordFixture(template.dir);
  project.provide('fixtureTemplate', template.dir);
  return template.remove;
}

import { describe, expect, it } from 'vitest';

import { DATABASE_FILE_NAME, resolveDataDirectory } from './data-directory.js';

describe('resolveDataDirectory', () => {
  it('takes an explicit directory first, relative to cwd', () => {
    expect(
      resolveDataDirectory({ dataDir: 'data', cwd: '/home/ada', env: { XDG_DATA_HOME: '/x' } }),
    ).toEqual({
      dir: '/home/ada/data',
      database: `/home/ada/data/${DATABASE_FILE_NAME}`,
      source: 'option',
    });
  });

  it('uses $XDG_DATA_HOME/wirthforge when it is absolute', () => {
    expect(resolveDataDirectory({ env: { XDG_DATA_HOME: '/home/ada/.data' }, home: '/h' })).toEqual(
      {
        dir: '/home/ada/.data/wirthforge',
        database: '/home/ada/.data/wirthforge/state.db',
        source: 'xdg',
      },
    );
  });

  it('falls back to ~/.local/share/wirthforge when XDG_DATA_HOME is unset, empty or relative', () => {
    for (const XDG_DATA_HOME of [undefined, '', 'relative/dir']) {
      expect(resolveDataDirectory({ env: { XDG_DATA_HOME }, home: '/home/ada' })).toEqual({
        dir: '/home/ada/.local/share/wirthforge',
        database: '/home/ada/.local/share/wirthforge/state.db',
        source: 'home',
      });
    }
  });
});

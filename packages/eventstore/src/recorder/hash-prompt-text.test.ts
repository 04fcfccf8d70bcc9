import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SessionEvents } from '../../test/event-builders.js';
import type { AppendableEvent } from '../prepare-append.js';
import { createPromptTextHasher, hashPromptText } from './hash-prompt-text.js';
import { createTokenTextHasher, hashTokenText } from './hash-token-text.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('hashPromptText', () => {
  const events = new SessionEvents();

  it('replaces the text by its hash and length, keeping a length that was given', () => {
    const prompt = events.prompt('p1');
    const withText = (data: object): AppendableEvent => ({
      ...prompt,
      data: { ...prompt.data, ...data },
    });
    const hashed = hashPromptText(withText({ text: 'e\u0301 👋🏽' }));
    expect(hashed).toEqual({
      ...prompt,
      data: { ...prompt.data, hash: sha256('e\u0301 👋🏽'), length: 5 },
    });
    expect(hashPromptText(withText({ text: 'abc', length: 3000, truncated: true }))).toMatchObject({
      data: { hash: sha256('abc'), length: 3000, truncated: true },
    });
  });

  it('returns other events, and prompts without text, as they are', () => {
    const prompt = events.prompt('p1');
    expect(hashPromptText(prompt)).toBe(prompt);
    const odd = { ...prompt, data: { ...prompt.data, text: 42 } } as unknown as AppendableEvent;
    expect(hashPromptText(odd)).toBe(odd);
    const update = events.update(1, 1);
    expect(hashPromptText(update)).toBe(update);
    const unknown = events.unknown('user.prompt');
    expect(hashPromptText(unknown)).toBe(unknown);
  });

  it('refuses an empty key', () => {
    expect(() => createPromptTextHasher({ key: '' })).toThrow(RangeError);
    expect(() => createTokenTextHasher({ key: new Uint8Array() })).toThrow(RangeError);
  });
});

describe('hashTokenText', () => {
  it('replaces a token by its hash, and only a token', () => {
    const events = new SessionEvents();
    const token = events.token('p1', 0);
    const withText = { ...token, data: { ...token.data, token: 'hi' } };
    expect(hashTokenText(withText)).toEqual({
      ...token,
      data: { ...token.data, token_hash: sha256('hi') },
    });
    expect(hashTokenText(token)).toBe(token);
    const prompt = events.prompt('p1');
    expect(hashTokenText(prompt)).toBe(prompt);
  });

  it('returns an event whose data is missing, not an object, or has a token of another kind as it is', () => {
    const token = new SessionEvents().token('p1', 0);
    const bodies: unknown[] = [
      { type: 'ai.output' },
      { ...token, data: undefined },
      { ...token, data: null },
      { ...token, data: 'hi' },
      { ...token, data: ['hi'] },
      { ...token, data: { ...token.data, token: 42 } },
      { ...token, data: { ...token.data, token: { text: 'hi' } } },
    ];
    for (const body of bodies) {
      const event = body as AppendableEvent;
      expect(hashTokenText(event)).toBe(event);
      expect(hashPromptText({ ...event, type: 'user.prompt' } as AppendableEvent)).toEqual({
        ...event,
        type: 'user.prompt',
      });
    }
  });
});

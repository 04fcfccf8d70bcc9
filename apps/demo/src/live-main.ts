#!/usr/bin/env node
import { runAsMain } from './run-as-main.js';
import { runLive } from './run-live.js';

runAsMain(runLive);

#!/usr/bin/env node
import { runAsMain } from './run-as-main.js';
import { runDemo } from './run-demo.js';

runAsMain(runDemo);

/** Every benchmark scenario; add new ones (build, export, push) here. */
import type { Scenario } from '../harness.js';
import { exportExt4Scenario, exportScenario } from './export.js';
import { flattenScenario } from './flatten.js';
import { layerScenario } from './layer.js';

export const scenarios: Scenario[] = [layerScenario, flattenScenario, exportScenario, exportExt4Scenario];

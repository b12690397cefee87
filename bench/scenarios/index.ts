/** Every benchmark scenario, and the set `npm run bench` runs without arguments. */
import type { Scenario } from '../harness.js';
import { buildScenarios } from './build.js';
import { exportExt4Scenario, exportScenario } from './export.js';
import { flattenScenario } from './flatten.js';
import { layerScenario } from './layer.js';
import { scaleScenarios } from './scale.js';

export function scenarios(): Scenario[] {
  return [...buildScenarios, exportScenario, exportExt4Scenario, ...scaleScenarios(), layerScenario, flattenScenario];
}

/** What users do with eib; the library-level layer and flatten scenarios run when named. */
export function defaultScenarios(): Scenario[] {
  return scenarios().filter((s) => s !== layerScenario && s !== flattenScenario);
}

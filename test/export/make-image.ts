/**
 * Run as the test user: builds the export tests' OCI image in a project
 * folder (layers from tasks.ts inside the namespace), written the way
 * src/pipeline/image.ts writes a build: stage records with cache keys in the
 * manifest annotation, each layer annotated with its key, tagged.
 *
 *   node make-image.js PROJECT_DIR TARBALL
 */
import { join } from 'node:path';
import { STAGES_ANNOTATION } from '../../src/store/built-image.js';
import { loadConfig } from '../../src/config/load.js';
import { buildImageConfig, rfc3339, stageLayers, type StageRecord } from '../../src/oci/image.js';
import { Annotation, type Digest } from '../../src/oci/types.js';
import { runInNamespace } from '../../src/sandbox/namespace.js';
import { OciLayout } from '../../src/store/layout.js';
import { makeLayersTask, type LayerPayload } from './tasks.js';

const [dir, tarball] = process.argv.slice(2);
const config = await loadConfig({ path: join(dir!, 'eib.yaml'), cwd: dir! });
const layout = await OciLayout.create(config.outputs.oci);
const epoch = config.epoch ?? 1_700_000_000;
const payload: LayerPayload = { tarball: tarball!, work: join(dir!, 'work'), layoutDir: layout.dir, epoch };
const layers = await runInNamespace(makeLayersTask, payload);
const records: StageRecord[] = layers.map((l) => ({
  name: l.name,
  createdBy: `test stage ${l.name}`,
  created: rfc3339(epoch),
  layer: { descriptor: { ...l.layer, annotations: { [Annotation.CacheKey]: `key-${l.name}` } }, diffId: l.diffId as Digest },
}));
await layout.writeImage({
  config: buildImageConfig({ arch: config.arch[0]!, stages: records, created: rfc3339(epoch) }),
  layers: stageLayers(records),
  annotations: { [STAGES_ANNOTATION]: JSON.stringify(layers.map((l) => ({ name: l.name, key: `key-${l.name}` }))), [Annotation.Title]: config.name },
  tag: config.outputs.tag,
});
process.stdout.write(`${JSON.stringify(layers.map((l) => l.layer.digest))}\n`);

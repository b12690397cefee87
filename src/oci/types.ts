/**
 * OCI image-spec v1.1 and distribution-spec types, in one place.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/
 */

export const MediaType = {
  /** image-spec descriptor.md / manifest.md */
  ImageManifest: 'application/vnd.oci.image.manifest.v1+json',
  ImageIndex: 'application/vnd.oci.image.index.v1+json',
  ImageConfig: 'application/vnd.oci.image.config.v1+json',
  Layer: 'application/vnd.oci.image.layer.v1.tar',
  LayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  LayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** manifest.md: the empty descriptor for artifacts */
  Empty: 'application/vnd.oci.empty.v1+json',
  /** Docker schema 2, accepted when pulling */
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;
export type MediaType = (typeof MediaType)[keyof typeof MediaType];

/** annotations.md: pre-defined annotation keys */
export const Annotation = {
  RefName: 'org.opencontainers.image.ref.name',
  Created: 'org.opencontainers.image.created',
  Title: 'org.opencontainers.image.title',
  Description: 'org.opencontainers.image.description',
  /** eib's own: the stage a layer or checkpoint belongs to, and its cache key. */
  Stage: 'dev.eib.stage',
  CacheKey: 'dev.eib.cache-key',
} as const;

/** "sha256:<64 hex>" (descriptor.md#digests) */
export type Digest = `${string}:${string}`;

/** descriptor.md */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

/** image-index.md#image-index-property-descriptions (platform) */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

/** manifest.md */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType: typeof MediaType.ImageManifest;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** image-index.md */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType: typeof MediaType.ImageIndex;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** config.md#properties: history */
export interface History {
  created?: string;
  author?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** config.md */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, Record<string, never>>;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    Volumes?: Record<string, Record<string, never>>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: History[];
}

/** image-layout.md: the oci-layout file */
export interface ImageLayoutFile {
  imageLayoutVersion: '1.0.0';
}

/** distribution-spec: error body of a failed request */
export interface DistributionErrors {
  errors: { code: string; message?: string; detail?: unknown }[];
}

/** distribution-spec: GET /v2/<name>/tags/list */
export interface TagList {
  name: string;
  tags: string[] | null;
}

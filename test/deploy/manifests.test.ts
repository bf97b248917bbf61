/**
 * The deployment recipe of config/deploy/ checked against the engine it deploys: the Kubernetes
 * manifests parse, the ConfigMap's configuration passes the engine's own validation, the KEDA
 * triggers read exactly the step queues, commands, roles, probes, grace periods and resources agree
 * with that configuration, no manifest holds a secret, and the Dockerfile builds what the manifests
 * run. The last part starts an engine from the ConfigMap's configuration (on the test Azurite) and
 * asks its probes on the management port.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { REPO_ROOT } from '../support/cli.js';
import { engineSuite, startEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { TestIdp } from '../support/oidc.js';

const DEPLOY = path.join(REPO_ROOT, 'config', 'deploy');
const KUBERNETES = path.join(DEPLOY, 'kubernetes');
const LIVENESS = '/actuator/health/liveness';
const READINESS = '/actuator/health/readiness';
const MiB = 1024 * 1024;
/** README, "Memory is bounded by configuration": Node, the SDKs and the ingress's bodies in flight. */
const CONSTANT_MEMORY_BYTES = 100 * MiB;
/** The engine's defaults for what the ConfigMap may leave unset. */
const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 10_485_760;

// The shapes of what the tests read; a missing field fails the test that reads it.
interface Metadata {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  [key: string]: unknown;
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number }>;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  serviceAccountName?: string;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean };
  containers: Container[];
  volumes?: Array<{ name: string; configMap?: { name: string } }>;
}
interface Deployment extends Manifest {
  spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Trigger {
  type: string;
  metadata: Record<string, string>;
  authenticationRef?: { name: string };
}

interface ManifestFile {
  file: string;
  text: string;
  manifests: Manifest[];
}

function readManifests(): ManifestFile[] {
  return readdirSync(KUBERNETES)
    .filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'))
    .sort()
    .map((name) => {
      const text = readFileSync(path.join(KUBERNETES, name), 'utf8');
      const documents = parseAllDocuments(text);
      assert.ok(Array.isArray(documents), `${name}: no YAML documents`);
      const manifests = documents.map((document, i) => {
        assert.deepEqual([...document.errors, ...document.warnings].map(String), [], `${name}, document ${i + 1}`);
        return document.toJS() as Manifest;
      });
      return { file: name, text, manifests };
    });
}

const files = readManifests();
const manifests = files.flatMap((f) => f.manifests);

function ofKind<T extends Manifest = Manifest>(kind: string): T[] {
  return manifests.filter((m) => m?.kind === kind) as T[];
}

function only<T extends Manifest = Manifest>(kind: string): T {
  const found = ofKind<T>(kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0]!;
}

/** The engine configuration inside the ConfigMap, as JSON (engine.json). */
function shippedDocument(): Record<string, unknown> {
  const data = only('ConfigMap')['data'] as Record<string, string>;
  const [key, ...others] = Object.keys(data);
  assert.deepEqual(others, [], 'the ConfigMap holds one file');
  return JSON.parse(data[key!]!) as Record<string, unknown>;
}

function section(document: Record<string, unknown>, key: string): Record<string, unknown> {
  return (document[key] ?? {}) as Record<string, unknown>;
}

const shipped = shippedDocument();
const server = section(shipped, 'server.config');
const managementPort = server['managementPort'];
const apiPort = server['port'] ?? 8080;
const example = JSON.parse(readFileSync(path.join(REPO_ROOT, 'config', 'example.json'), 'utf8')) as Record<string, unknown>;

interface RawStep {
  sourceQueueName: string;
  maxThreads?: number;
}
function stepsOf(document: Record<string, unknown>): RawStep[] {
  return (document['flow.config'] as Array<{ queueMappings: RawStep[] }>).flatMap((flow) => flow.queueMappings);
}

const deployments = ofKind<Deployment>('Deployment');
/** The role a Deployment is for, from its component label (ingress, worker). */
function roleOf(deployment: Deployment): string {
  return deployment.metadata.labels?.['app.kubernetes.io/component'] ?? '';
}
function deploymentFor(role: string): Deployment {
  const found = deployments.filter((d) => roleOf(d) === role);
  assert.equal(found.length, 1, `exactly one Deployment for the role ${role}`);
  return found[0]!;
}
function containersOf(deployment: Deployment): Container[] {
  return deployment.spec.template.spec.containers;
}

/** A probe's or Service's port as a number: named ports are looked up in the container. */
function portNumber(container: Container, port: number | string): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
}

/** A Kubernetes memory quantity in bytes (Mi, Gi, M, G, plain). */
function bytesOf(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  assert.ok(match, `${quantity} is a memory quantity`);
  const units: Record<string, number> = { '': 1, Ki: 1024, Mi: MiB, Gi: 1024 * MiB, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(match[1]) * units[match[2] ?? '']!;
}

/** The seconds a preStop `sleep N` holds the SIGTERM back. */
function preStopSeconds(container: Container): number {
  const command = container.lifecycle?.preStop?.exec?.command ?? [];
  return command[0] === 'sleep' ? Number(command[1]) : 0;
}

/** The environment a pod gets from Secrets: placeholders, so that validation sees the keys set. */
function secretEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const d of deployments) for (const c of containersOf(d)) for (const e of c.env ?? []) if (e.valueFrom) env[e.name] = 'from-a-kubernetes-secret';
  return env;
}

// --- The Dockerfile, read statically: no Docker engine is needed to check what it says. ---

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions per build stage (each FROM starts one); comments dropped, continuations joined. */
function dockerStages(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    if (whole === '') continue;
    const [keyword = '', ...rest] = whole.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  return stages;
}

/** An exec-form argument list (JSON array); shell form fails the test. */
function execForm(instruction: Instruction | undefined, what: string): string[] {
  assert.ok(instruction, `${what} is set`);
  assert.ok(instruction.args.startsWith('['), `${what} is in exec form (a JSON array), not shell form: ${instruction.args}`);
  return JSON.parse(instruction.args) as string[];
}

function last(stage: Instruction[], keyword: string): Instruction | undefined {
  return stage.filter((i) => i.keyword === keyword).at(-1);
}

const dockerfile = readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8');
const stages = dockerStages(dockerfile);
const finalStage = stages.at(-1) ?? [];

/** What the image runs by default: ENTRYPOINT followed by CMD. */
function imageArgv(): string[] {
  const entrypoint = last(finalStage, 'ENTRYPOINT');
  return [...(entrypoint ? execForm(entrypoint, 'ENTRYPOINT') : []), ...execForm(last(finalStage, 'CMD'), 'CMD')];
}

/** npm (or npx, yarn) anywhere in an argument list: it would be PID 1 and not pass SIGTERM on. */
function runsAPackageManager(argv: string[]): boolean {
  return argv.some((arg) => /(^|[\s/])(npm|npx|yarn|pnpm)(\s|$)/.test(arg));
}

describe('config/deploy/kubernetes', () => {
  it('holds only YAML that parses into Kubernetes objects, one of each part of the recipe', () => {
    assert.ok(files.length > 0, 'manifests exist');
    for (const m of manifests) {
      assert.ok(m && typeof m.apiVersion === 'string' && typeof m.kind === 'string' && typeof m.metadata?.name === 'string', `${JSON.stringify(m)} is a Kubernetes object`);
    }
    const kinds = manifests.map((m) => m.kind).sort();
    assert.deepEqual(kinds, [
      'ConfigMap',
      'Deployment',
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'PodDisruptionBudget',
      'ScaledObject',
      'Service',
      'ServiceAccount',
      'TriggerAuthentication',
    ]);
    assert.deepEqual(deployments.map(roleOf).sort(), ['ingress', 'worker']);
  });

  it(
    "holds a configuration in the ConfigMap that passes the engine's own validation",
    () => {
      const loaded = parseConfig(shipped, { source: 'config/deploy/kubernetes/configmap.yaml', env: secretEnvironment() });
      assert.deepEqual(loaded.warnings, []);
      assert.deepEqual(
        loaded.config.flows.map((f) => f.steps.map((s) => s.sourceQueueName)),
        [stepsOf(shipped).map((s) => s.sourceQueueName)],
      );
    },
  );

  it('configures production: Entra ID for storage, every interface, a management port, OIDC, no secret', () => {
    const storage = section(shipped, 'azure.storage.config');
    assert.equal(storage['credential'], 'default');
    assert.equal(typeof storage['accountName'], 'string');
    for (const key of ['accountKey', 'connectionString', 'emulator']) assert.ok(!(key in storage), `no ${key}`);
    assert.equal(server['host'], '0.0.0.0');
    assert.ok(Number.isInteger(managementPort) && (managementPort as number) > 0, 'server.config.managementPort is set');
    assert.notEqual(managementPort, apiPort, 'the management port is not the API port');
    assert.notEqual(server['auth'], 'none', 'authentication stays on');
    assert.ok(!('openapi.password' in shipped), 'openapi.password comes from the environment');
    assert.ok(!('credentials' in section(shipped, 'openid.config')), 'the client secret comes from the environment');
  });

  it("runs config/example.json's flow on its queues", () => {
    const names = (document: Record<string, unknown>): unknown => ({
      queues: (document['queue.config'] as Array<{ name: string }>).map((q) => q.name),
      flows: (document['flow.config'] as Array<{ flowName: string; queueMappings: Array<Record<string, unknown>> }>).map((f) => [
        f.flowName,
        f.queueMappings.map((m) => [m['sourceQueueName'], m['endpointName'], m['targetQueueName'], m['maxThreads']]),
      ]),
    });
    assert.deepEqual(names(shipped), names(example));
  });

  it("scales the workers with one azure-queue trigger per step queue of the shipped flows, on the shipped account", () => {
    const scaledObject = only('ScaledObject');
    const spec = scaledObject['spec'] as { scaleTargetRef: { name: string; kind?: string }; triggers: Trigger[]; minReplicaCount?: number; maxReplicaCount?: number };
    assert.equal(spec.scaleTargetRef.name, deploymentFor('worker').metadata.name);
    assert.ok(spec.scaleTargetRef.kind === undefined || spec.scaleTargetRef.kind === 'Deployment');
    const triggerQueues = spec.triggers.map((t) => t.metadata['queueName']);
    assert.deepEqual(triggerQueues, stepsOf(shipped).map((s) => s.sourceQueueName), 'the step queues of the ConfigMap');
    assert.deepEqual(triggerQueues, stepsOf(example).map((s) => s.sourceQueueName), "the step queues of config/example.json's flow");
    const accountName = section(shipped, 'azure.storage.config')['accountName'];
    const authentication = only('TriggerAuthentication');
    for (const trigger of spec.triggers) {
      assert.equal(trigger.type, 'azure-queue');
      assert.equal(trigger.metadata['accountName'], accountName, 'the ConfigMap\'s storage account');
      // KEDA reads metadata as strings: a number here is refused by its admission webhook.
      assert.match(trigger.metadata['queueLength'] ?? '', /^[1-9]\d*$/, 'queueLength is a positive whole number, as a string');
      assert.ok(!('connectionFromEnv' in trigger.metadata) && !('connection' in trigger.metadata), 'no connection string');
      assert.equal(trigger.authenticationRef?.name, authentication.metadata.name);
    }
    const podIdentity = (authentication['spec'] as { podIdentity?: { provider?: string; identityId?: string } }).podIdentity;
    assert.equal(podIdentity?.provider, 'azure-workload');
    // Unset, KEDA signs in as the identity it was installed with; set, it must be the engine's.
    const clientId = only('ServiceAccount').metadata.annotations?.['azure.workload.identity/client-id'];
    assert.ok(podIdentity.identityId === undefined || podIdentity.identityId === clientId, 'KEDA reads the queues as the engine\'s identity');
    assert.ok((spec.minReplicaCount ?? 0) >= 1, 'one worker stays for the sweeps and callbacks');
    assert.ok((spec.maxReplicaCount ?? 100) >= (spec.minReplicaCount ?? 0));
  });

  it('runs node dist/src/main.js start with the role of each Deployment and the mounted configuration, never npm', () => {
    for (const deployment of deployments) {
      const [container, ...sidecars] = containersOf(deployment);
      assert.ok(container, `${deployment.metadata.name} has a container`);
      assert.deepEqual(sidecars, []);
      // A container without `command` runs the image's ENTRYPOINT with `args` as its CMD.
      const argv = [...(container.command ?? execForm(last(finalStage, 'ENTRYPOINT'), 'ENTRYPOINT')), ...(container.args ?? [])];
      assert.ok(!runsAPackageManager(argv), `${argv.join(' ')} runs no package manager`);
      assert.deepEqual(argv.slice(0, 3), ['node', 'dist/src/main.js', 'start'], deployment.metadata.name);
      const role = argv[argv.indexOf('--role') + 1];
      assert.ok(argv.includes('--role'), `${deployment.metadata.name} names its role`);
      assert.equal(role, roleOf(deployment), deployment.metadata.name);

      const configPath = argv.includes('--config') ? argv[argv.indexOf('--config') + 1] : container.env?.find((e) => e.name === 'ASYNC_ENGINE_CONFIG')?.value;
      assert.ok(configPath, `${deployment.metadata.name} names its configuration file`);
      const mount = container.volumeMounts?.find((m) => path.posix.dirname(configPath) === m.mountPath);
      assert.ok(mount, `${configPath} is in a mounted volume`);
      const volume = deployment.spec.template.spec.volumes?.find((v) => v.name === mount.name);
      assert.equal(volume?.configMap?.name, only('ConfigMap').metadata.name, `${configPath} comes from the ConfigMap`);
      assert.ok(path.posix.basename(configPath) in (only('ConfigMap')['data'] as object), `${configPath} is a file of the ConfigMap`);
    }
  });

  it('probes liveness and readiness on the management port, and the Service reaches only the API port', () => {
    for (const deployment of deployments) {
      for (const container of containersOf(deployment)) {
        const where = `${deployment.metadata.name}/${container.name}`;
        const probes = { livenessProbe: LIVENESS, readinessProbe: READINESS, startupProbe: LIVENESS } as const;
        for (const [probe, expectedPath] of Object.entries(probes) as Array<[keyof typeof probes, string]>) {
          const httpGet = container[probe]?.httpGet;
          if (probe === 'startupProbe' && httpGet === undefined) continue;
          assert.ok(httpGet, `${where} has a ${probe}`);
          assert.equal(httpGet.path, expectedPath, `${where} ${probe}`);
          assert.equal(portNumber(container, httpGet.port), managementPort, `${where} ${probe} asks server.config.managementPort`);
        }
        assert.ok(container.ports?.some((p) => p.containerPort === managementPort), `${where} declares the management port`);
      }
    }
    const [ingress] = containersOf(deploymentFor('ingress'));
    assert.ok(ingress?.ports?.some((p) => p.containerPort === apiPort), 'the ingress declares server.config.port');
    const service = only('Service');
    const spec = service['spec'] as { selector: Record<string, string>; ports: Array<{ targetPort: number | string }> };
    assert.deepEqual(spec.selector, deploymentFor('ingress').spec.selector.matchLabels, 'the Service selects the ingress pods');
    assert.deepEqual(spec.ports.map((p) => portNumber(ingress!, p.targetPort)), [apiPort], 'the unauthenticated management port stays off the Service');
  });

  it('gives the kubelet more time than the drain: terminationGracePeriodSeconds * 1000 > preStop + shutdownGraceMs', () => {
    const shutdownGraceMs = (server['shutdownGraceMs'] as number | undefined) ?? DEFAULT_SHUTDOWN_GRACE_MS;
    for (const deployment of deployments) {
      const pod = deployment.spec.template.spec;
      const preStopMs = Math.max(0, ...pod.containers.map(preStopSeconds)) * 1000;
      assert.ok(typeof pod.terminationGracePeriodSeconds === 'number', `${deployment.metadata.name} sets terminationGracePeriodSeconds`);
      assert.ok(pod.terminationGracePeriodSeconds * 1000 > preStopMs + shutdownGraceMs, `${deployment.metadata.name}: ${pod.terminationGracePeriodSeconds} s against ${preStopMs} + ${shutdownGraceMs} ms`);
    }
  });

  it("requests CPU and memory for every container, memory at least the README's bound for its role", () => {
    const maxResponseBytes = (section(shipped, 'payload.config')['maxResponseBytes'] as number | undefined) ?? DEFAULT_MAX_RESPONSE_BYTES;
    const threads = stepsOf(shipped).reduce((sum, step) => sum + (step.maxThreads ?? 10), 0);
    // An ingress runs no steps; a worker holds at most one answer per worker slot.
    const bound: Record<string, number> = { ingress: CONSTANT_MEMORY_BYTES, worker: threads * maxResponseBytes + CONSTANT_MEMORY_BYTES };
    for (const deployment of deployments) {
      for (const container of containersOf(deployment)) {
        const where = `${deployment.metadata.name}/${container.name}`;
        const { requests = {}, limits = {} } = container.resources ?? {};
        assert.ok(requests['cpu'], `${where} requests CPU`);
        assert.ok(requests['memory'] && limits['memory'], `${where} requests and limits memory`);
        const role = roleOf(deployment);
        assert.ok(bytesOf(requests['memory']) >= bound[role]!, `${where} requests ${requests['memory']}, under ${bound[role]! / MiB} MiB`);
        assert.ok(bytesOf(limits['memory']) >= bytesOf(requests['memory']), `${where}: the limit is at least the request`);
      }
    }
  });

  it('gives each Deployment a PodDisruptionBudget and an autoscaler', () => {
    const budgets = ofKind('PodDisruptionBudget').map((b) => (b['spec'] as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels);
    for (const deployment of deployments) {
      const labels = deployment.spec.template.metadata.labels;
      const covering = budgets.filter((selector) => Object.entries(selector).every(([k, v]) => labels[k] === v));
      assert.equal(covering.length, 1, `one PodDisruptionBudget selects ${deployment.metadata.name}'s pods`);
    }
    const hpa = only('HorizontalPodAutoscaler')['spec'] as { scaleTargetRef: { name: string }; minReplicas?: number };
    assert.equal(hpa.scaleTargetRef.name, deploymentFor('ingress').metadata.name);
    assert.ok((hpa.minReplicas ?? 1) >= 2, 'two ingress replicas at least, so that one can be drained');
  });

  it('runs the pods as the workload identity, not as root', () => {
    const account = only('ServiceAccount');
    assert.match(account.metadata.annotations?.['azure.workload.identity/client-id'] ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
    for (const deployment of deployments) {
      const pod = deployment.spec.template;
      assert.equal(pod.metadata.labels['azure.workload.identity/use'], 'true', `${deployment.metadata.name}'s pods are labelled for workload identity (the string "true")`);
      assert.equal(pod.spec.serviceAccountName, account.metadata.name);
      assert.equal(pod.spec.securityContext?.runAsNonRoot, true, `${deployment.metadata.name} runs as non-root`);
    }
  });

  it('holds no secret: no key, connection string or password, and secret variables only from Secrets', () => {
    for (const { file, text } of files) {
      for (const word of [/accountKey/i, /connectionString/i, /AZURE_STORAGE_ACCOUNT_KEY/, /AZURE_STORAGE_CONNECTION_STRING/, /SharedAccessSignature=/i, /\bsig=/]) {
        assert.doesNotMatch(text, word, `${file} mentions ${word}`);
      }
    }
    assert.deepEqual(ofKind('Secret'), [], 'no Secret object: create it apart (README, "Running on Azure")');
    const found: string[] = [];
    const walk = (value: unknown, where: string): void => {
      if (Array.isArray(value)) {
        for (const [i, v] of value.entries()) walk(v, `${where}[${i}]`);
      } else if (value !== null && typeof value === 'object') {
        for (const [key, v] of Object.entries(value)) {
          if (/password|secret|accountkey|connectionstring/i.test(key) && (typeof v === 'string' || typeof v === 'number')) found.push(`${where}.${key}`);
          walk(v, `${where}.${key}`);
        }
      }
    };
    for (const [i, m] of manifests.entries()) walk(m, `${m.kind}#${i}`);
    walk(shipped, 'engine.json');
    for (const deployment of deployments) {
      for (const container of containersOf(deployment)) {
        for (const variable of container.env ?? []) {
          if (/PASSWORD|SECRET|KEY|CONNECTION_STRING|TOKEN/.test(variable.name) && variable.value !== undefined) found.push(`${deployment.metadata.name} env ${variable.name}`);
        }
      }
    }
    assert.deepEqual(found, []);
  });
});

describe('config/deploy/Dockerfile', () => {
  it('builds in a stage of its own and runs from node:22 slim with production dependencies only', () => {
    assert.ok(stages.length >= 2, 'a multi-stage build');
    const build = stages.slice(0, -1).flat();
    assert.ok(build.some((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args)), 'the build stage runs npm ci');
    assert.ok(build.some((i) => i.keyword === 'RUN' && /\bnpm run build\b/.test(i.args)), 'the build stage runs npm run build');
    const [image = ''] = (finalStage[0]?.args ?? '').split(/\s+/);
    assert.match(image, /^node:22[\w.-]*slim(@sha256:[0-9a-f]{64})?$/, 'the final stage is node:22 slim');
    const installs = finalStage.filter((i) => i.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args));
    assert.ok(installs.length > 0, 'the final stage installs its dependencies');
    for (const install of installs) assert.match(install.args, /--omit=dev/, `${install.args} omits devDependencies`);
    const copies = finalStage.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    assert.ok(copies.some((c) => /^--from=\S+\s+\S*dist\/src\/?\s/.test(c)), `the compiled dist/src comes from the build stage: ${copies.join('; ')}`);
    assert.ok(copies.some((c) => /^config\/?\s/.test(c)), 'the config folder is copied');
  });

  it('runs node dist/src/main.js start as a user that is not root, node as PID 1', () => {
    const user = last(finalStage, 'USER')?.args.split(':')[0];
    assert.ok(user !== undefined && user !== 'root' && user !== '0', `USER ${user} is not root`);
    assert.match(user, /^\d+$/, "a numeric user, which Kubernetes' runAsNonRoot can verify");
    const argv = imageArgv();
    assert.ok(!runsAPackageManager(argv), `${argv.join(' ')} runs no package manager`);
    assert.deepEqual(argv, ['node', 'dist/src/main.js', 'start']);
  });

  it('checks liveness on the management port, exposes both ports, stops with SIGTERM and reads the mounted configuration', () => {
    const healthcheck = last(finalStage, 'HEALTHCHECK');
    assert.ok(healthcheck, 'HEALTHCHECK is set');
    const command = healthcheck.args.slice(healthcheck.args.indexOf('CMD ') + 4);
    const argv = execForm({ keyword: 'CMD', args: command }, 'the HEALTHCHECK command');
    assert.equal(argv[0], 'node', 'node (the slim image has no curl)');
    assert.ok(argv.join(' ').includes(`:${managementPort}${LIVENESS}`), `${argv.join(' ')} asks the liveness probe on port ${managementPort}`);
    const exposed = finalStage.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map((p) => Number.parseInt(p, 10));
    assert.deepEqual([apiPort, managementPort].filter((p) => !exposed.includes(p as number)), [], `EXPOSE ${exposed.join(' ')}`);
    assert.equal(last(finalStage, 'STOPSIGNAL')?.args, 'SIGTERM');
    const env = finalStage.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ');
    const configPath = /ASYNC_ENGINE_CONFIG=(\S+)/.exec(env)?.[1];
    const [worker] = containersOf(deploymentFor('worker'));
    const args = worker?.args ?? [];
    assert.equal(configPath, args[args.indexOf('--config') + 1], 'the image defaults to the file the manifests mount');
  });

  it('keeps node_modules, dist and .git out of the build context (Dockerfile.dockerignore)', () => {
    const ignored = readFileSync(path.join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(entry), `${entry} is ignored`);
  });
});

describe("the ConfigMap's configuration, started", () => {
  const suite = engineSuite();
  const openid = section(shipped, 'openid.config');
  let idp: TestIdp;
  before(async () => {
    // The shipped realm and client, at a provider the test runs: readiness needs it under oidc.
    idp = await TestIdp.start({ realm: String(openid['realm']), clientId: String(openid['resource']), clientSecret: 'from-a-kubernetes-secret', users: {} });
  });
  after(() => idp.close());

  it(
    'answers both probes 200 without a token on the management port, and not on the API port',
    async () => {
      // The shipped configuration, with the test's Azurite for the storage account (its own, so the
      // shipped queue and table names collide with nothing), the test's provider, and free ports.
      const document = {
        ...shipped,
        'azure.storage.config': { connectionString: suite.azurite.connectionString },
        'openid.config': { ...openid, 'auth-server-url': idp.authServerUrl },
        'server.config': { ...server, host: '127.0.0.1', port: 0, managementPort: 0 },
      };
      const { config } = parseConfig(document, { source: 'configmap.yaml (test storage)', env: secretEnvironment() });
      const engine = await startEngine(config, { healthCacheInMs: 50 });
      suite.onClose(() => engine.close());
      const { managementUrl } = engine.runtime;
      assert.ok(managementUrl !== null && managementUrl !== engine.url, 'the management server listens on its own port');
      for (const probe of [LIVENESS, READINESS]) {
        const answer = await eventually(
          async () => {
            const response = await fetch(`${managementUrl}${probe}`);
            assert.equal(response.status, 200, `${probe}: ${await response.clone().text()}`);
            return response;
          },
          { timeoutInMs: 30_000 },
        );
        assert.deepEqual(await answer.json(), { status: 'UP' });
        assert.notEqual((await fetch(`${engine.url}${probe}`)).status, 200, `${probe} is not served on the API port`);
      }
    },
  );
});

// `convq/testing`: a fake Microsoft.Omnichannel and Xrm.WebApi (conversation table) over one
// store. Copied by `cargo xtask wasm` to pkg/testing/index.d.ts; the data types (Input, Envelope,
// Conversation, ...) are generated from the Rust types and the catalog (convq-types.d.ts).
import type {
  Conversation,
  ErrorBody,
  Input,
  OmnichannelOptions as StoreOptions,
  Watch,
  WatchEvent,
  WatchOptions,
} from "./convq_testing.js";

export type { Compiled, Conversation, Envelope, ErrorBody, Input, Options, Watch, WatchEvent, WatchError, WatchOptions } from "./convq_testing.js";
export { compile, getConversations } from "./convq_testing.js";

/**
 * What getConversations resolves with: the `Envelope` with its records typed as conversations
 * (`if (answer.status)` narrows to the success shape).
 */
export type ConversationsEnvelope =
  | { result: { values: Conversation[] }; status: true }
  | { error: ErrorBody; status: false };

/** How an Omnichannel method rejects: the failure envelope. */
export interface Failure {
  error: ErrorBody & { status?: number; retryAfter?: number };
  status: false;
}

/** How an Xrm.WebApi method rejects. */
export interface XrmError {
  errorCode: number;
  message: string;
  /** 429 for an injected throttle. */
  status?: number;
  /** Seconds, for an injected throttle. */
  retryAfter?: number;
}

/** A rich message object of sendMessageToConversation (an adaptive card, a survey, ...). */
export interface MessageObject {
  richObjectId: string;
  richObjectType: string;
  richObjectName: string;
  [key: string]: unknown;
}

/** The methods of `Microsoft.Omnichannel` that the fake implements, with their documented signatures. */
export interface OmnichannelApi {
  getConversationId(): Promise<string>;
  getConversations(input: Input | string, correlationId?: string | null): Promise<ConversationsEnvelope>;
  openConversation(conversationId: string, lastsessionId?: string | null, liveworkstreamId?: string | null): Promise<unknown>;
  linkToConversation(entityLogicalName: "account" | "contact" | "incident", recordId: string, conversationId?: string | null): Promise<unknown>;
  unlinkFromConversation(entityLogicalName: "account" | "contact" | "incident", recordId: string, conversationId?: string | null): Promise<unknown>;
  sendMessageToConversation(message: string | MessageObject, toSendBox?: boolean | null, conversationId?: string | null): Promise<unknown>;
}

/** The `Xrm.WebApi` reads of the conversation table. */
export interface XrmWebApi {
  retrieveRecord(entityLogicalName: string, id: string, options?: string): Promise<Conversation>;
  retrieveMultipleRecords(
    entityLogicalName: string,
    options?: string,
    maxPageSize?: number,
  ): Promise<{ entities: Conversation[]; nextLink?: string }>;
}

export type MethodName = keyof OmnichannelApi | keyof XrmWebApi | "watchConversations";

export interface OmnichannelOptions extends Omit<StoreOptions, "records"> {
  /**
   * The conversations (Web API property names): an array, a Web API response body
   * `{ value: [...] }`, or either as JSON text (NDJSON too).
   */
  records: readonly Conversation[] | { value: readonly Conversation[] } | string;
  /** The signed-in agent (systemuser id): sendMessageToConversation sends only to their conversations. */
  agentId?: string | null;
  /** The conversation whose session is focused (getConversationId, and the default conversationId). */
  focusedConversationId?: string | null;
  /** Resolve failures as `{error, status: false}` instead of rejecting (the behaviour before 0.2). */
  resolveFailures?: boolean;
  /** Milliseconds before each call settles, for all methods or per method (`{ default, getConversations }`). */
  latency?: number | Partial<Record<MethodName | "default", number>>;
  /** Records under names Web API does not return: warn on the console (default), throw, or ignore. */
  recordWarnings?: "warn" | "error" | "ignore";
  /** What the methods whose resolve value is undocumented resolve with (`undefined` by default). */
  resolves?: Partial<Record<"openConversation" | "linkToConversation" | "unlinkFromConversation" | "sendMessageToConversation", unknown>>;
  /** retrieveMultipleRecords' page size without maxPageSize; 5,000 (Dataverse's) by default. */
  pageSize?: number;
}

export interface Call {
  method: MethodName;
  args: unknown[];
  correlationId: string | null;
  outcome?: "resolved" | "rejected";
  value?: unknown;
}

export interface FakeState {
  agentId: string | null;
  focusedConversationId: string | null;
  sessions: { conversationId: string; lastSessionId: string | null; liveWorkstreamId: string | null }[];
  messages: { conversationId: string; message: string | MessageObject; toSendBox: boolean }[];
  conversations: Conversation[];
  warnings: { code: string; path: string; message: string }[];
}

export interface FakeOmnichannel extends OmnichannelApi {
  webApi: XrmWebApi;
  readonly state: FakeState;
  readonly calls: readonly Call[];
  focus(conversationId: string | null): void;
  fail(method: MethodName, error?: unknown, options?: { times?: number }): void;
  throttle(method: MethodName, options?: { retryAfter?: number; times?: number }): void;
  setLatency(method: MethodName | number, ms?: number): void;
  install(target?: object): () => void;
  /**
   * convq's watchConversations reading this store instead of a service (`serviceUrl` and
   * `headers` are ignored): the snapshot first, then the changes at each `emitChanges()`.
   */
  watchConversations(serviceUrl: string | null, input: Input | string, options?: WatchOptions | null): Watch;
  /** Adds a conversation, or sets the given properties of the one with its activityid. */
  upsert(record: Partial<Conversation> & { activityid: string }): void;
  /** Deletes a conversation; whether there was one. */
  remove(conversationId: string): boolean;
  /** Reads every open watch's list again and sends its changes; resolves with the events sent. */
  emitChanges(): Promise<WatchEvent[]>;
}

export function createOmnichannel(options: OmnichannelOptions): FakeOmnichannel;
/** Path of the sample store (3,000 conversations, 20 agents) shipped in the package. */
export const SAMPLE_CONVERSATIONS: string;
/** "Now" of the sample store: "2026-11-20T12:00:00Z". */
export const SAMPLE_NOW: string;

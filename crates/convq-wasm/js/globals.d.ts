// `/// <reference types="convq/testing/globals" />` (or `import type {} from "convq/testing/globals"`):
// the globals a customization reads at run time, typed as convq/testing fakes them. Leave it out
// where @types/xrm already declares `Xrm`.
import type { OmnichannelApi, XrmWebApi } from "./index.js";

declare global {
  var Microsoft: { Omnichannel: OmnichannelApi };
  var Xrm: { WebApi: XrmWebApi };
}

export {};

// Fleet mode (vrouterd --etcd): several routers share one desired state, and any
// router's API (this page's included) reads and writes all of it. Route tables,
// routes, subnets and settings belong to one router (their `router` field); security
// groups are the whole fleet's. Learned once after sign-in from GET /v1/routers; a
// single router (no --etcd) shows no router field anywhere.

import { api } from './api.js';

export const fleet = {
  on: false, // the daemon serving this page runs in fleet mode
  self: '', // its router name
  routers: [], // every router known to the fleet, by name
};

export async function learnFleet() {
  try {
    const { data } = await api('GET', '/v1/routers');
    fleet.on = Boolean(data.fleet);
    fleet.self = data.self || '';
    fleet.routers = [...new Set([fleet.self, ...data.items.map((r) => r.name)].filter(Boolean))].sort();
  } catch {
    fleet.on = false; // an older daemon, or a token that cannot read it: single-router UI
  }
  document.body.classList.toggle('fleet', fleet.on);
  return fleet;
}

// The fields (or filters, or columns) a page shows: fleet-only ones in fleet mode only.
export function visible(list) {
  return list.filter((x) => !x.fleetOnly || fleet.on);
}

// The deal page (to be built).
"use strict";

Ledger.page({ onOpen: async () => { await Ledger.getJson("/v1/projections"); },
  onClose: () => {} });

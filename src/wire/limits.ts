/** Limits shared by schemas: every string a peer can send us is bounded. */
export const MAX_ID_CHARS = 128;
export const MAX_ADDRESS_CHARS = 300;

/** A private signing key on the machine that backs up (`backup --sign-key`). */
export interface ManifestSigner {
  /** Stable, non-secret id of the key pair (`ed25519-…`), recorded beside the signature. */
  readonly keyId: string;
  /** The signature of `bytes`, base64. */
  sign(bytes: Buffer): string;
}

/** The public half, on the machine that restores (`--verify-key`). */
export interface ManifestVerifier {
  readonly keyId: string;
  /** True only when `signature` (base64) is this key's signature of `bytes`; never throws. */
  verify(bytes: Buffer, signature: string): boolean;
}

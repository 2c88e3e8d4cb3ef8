// Where a signature check finds an access key's secret and its user.

export interface KeySecret {
  readonly secretKey: string;
  /** The user the key acts as: buckets it creates belong to this user. */
  readonly owner: string;
}

export interface CredentialStore {
  lookup(accessKey: string): Promise<KeySecret | undefined>;
}

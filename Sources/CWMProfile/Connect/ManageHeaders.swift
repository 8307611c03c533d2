import Foundation

/// The headers every authenticated Manage API call carries.
public enum ManageHeaders {
  /// The vendor media type; it must come first in `Accept` or the server
  /// ignores the version.
  public static let mediaType = "application/vnd.connectwise.com+json"

  /// `Basic` followed by the base64 of `company+publicKey:privateKey` in
  /// UTF-8 (not ASCII, which would turn every accented letter into `?`).
  public static func basicAuthorization(
    company: String, publicKey: String, privateKey: SecretBytes
  ) -> String {
    let prefix = SecretBytes(utf8: "\(company)+\(publicKey):")
    let credentials = prefix.appending(privateKey)
    return credentials.withUnsafeBytes { "Basic " + Data($0).base64EncodedString() }
  }

  /// `Accept`, with the version when one is known.
  public static func accept(version: APIVersion?) -> String {
    version.map { "\(mediaType); version=\($0)" } ?? mediaType
  }

  /// The full header set for API-key and impersonation calls, in the order sent.
  public static func apiKey(authorization: String, clientId: String, version: APIVersion?)
    -> [HTTPHeader]
  {
    [
      HTTPHeader("Authorization", authorization),
      HTTPHeader("clientId", clientId),
      HTTPHeader("Accept", accept(version: version)),
      HTTPHeader("Cache-Control", "no-cache"),
    ]
  }
}

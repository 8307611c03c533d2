// Temporary placeholder until the libcurl transport lands.
public final class CurlTransport: HTTPTransport {
  public init(options: HTTPOptions = HTTPOptions(), logger: Logger = .silent) {}
  public func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
    throw .transport(detail: "not implemented")
  }
}

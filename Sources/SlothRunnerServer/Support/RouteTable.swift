import Hummingbird

/// The endpoints the router serves, kept as they are registered, so that a request for a known
/// path with the wrong method is told `405` and which methods it takes (`Allow`), rather than
/// that the path does not exist (the router alone cannot tell the two apart).
final class RouteTable: Sendable {
    private let routes: [(method: HTTPRequest.Method, path: [Substring])]

    init(_ routes: [(HTTPRequest.Method, String)]) {
        self.routes = routes.map { ($0.0, $0.1.split(separator: "/")) }
    }

    /// The methods `path` is served with (empty: no such path).
    func methods(for path: String) -> [HTTPRequest.Method] {
        let parts = path.split(separator: "/")
        return routes.filter { route in
            route.path.count == parts.count
                && zip(route.path, parts).allSatisfy { pattern, part in pattern.hasPrefix("{") || pattern == part }
        }.map(\.method)
    }
}

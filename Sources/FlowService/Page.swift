/// The page at `/` (placeholder until the page lands).
enum Page {
  static let html: String = "<!doctype html><title>flowctl</title><p>flowctl serve</p>"
}

// Nothing to copy yet: migrations are read from ../drizzle relative to dist/ and src/ alike.
// Kept as the single place to add build-time asset steps (e.g. bree job files).

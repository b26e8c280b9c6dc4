/** The front-end's stylesheets are bundled by esbuild (scripts/bundle.mjs) into app.css. */
declare module '*.css';

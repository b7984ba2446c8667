// Starts the GraphiQL playground served by delivery-gateway (src/graphiql/mod.rs).
//
// This file is static and loaded by URL, so the page needs no inline script and
// works under a strict Content-Security-Policy. Everything that varies per page
// (endpoint, tabs, default headers) comes from the JSON data block
// <script id="graphiql-config" type="application/json">, written by `page()`.
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('graphiql-config').textContent);
  var hasDefaultHeaders = typeof config.defaultHeaders === 'string' && config.defaultHeaders !== '';

  var props = {
    // The UMD build's counterpart of @graphiql/toolkit's createGraphiQLFetcher.
    fetcher: GraphiQL.createFetcher({ url: config.endpoint }),
    // Used only when no tab state is stored in this browser yet (GraphiQL's rule).
    defaultTabs: config.tabs.length > 0 ? config.tabs : undefined,
    defaultHeaders: hasDefaultHeaders ? config.defaultHeaders : undefined,
    // Headers may hold tokens: keep them out of localStorage.
    shouldPersistHeaders: false,
    isHeadersEditorEnabled: true,
    // Open the headers pane when there is something in it to see.
    defaultEditorToolsVisibility: hasDefaultHeaders ? 'headers' : undefined
  };

  var container = document.getElementById('graphiql');
  ReactDOM.createRoot(container).render(React.createElement(GraphiQL, props));
})();

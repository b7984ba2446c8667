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

  // GraphiQL 4.1.2 fills the variables and headers editors at start from its
  // `variables`/`headers` props or storage, not from the first default tab (only the
  // query editor falls back to it). On a first visit, when GraphiQL has no stored tabs
  // and so opens `defaultTabs`, hand it the first tab's contents as those props. A
  // returning browser keeps its own tabs, as GraphiQL intends.
  var firstVisit = !window.localStorage || window.localStorage.getItem('graphiql:tabState') === null;
  var first = config.tabs[0];
  if (firstVisit && first) {
    props.query = first.query;
    if (first.variables != null) props.variables = first.variables;
    if (first.headers != null) props.headers = first.headers;
  }

  var container = document.getElementById('graphiql');
  ReactDOM.createRoot(container).render(React.createElement(GraphiQL, props));
})();

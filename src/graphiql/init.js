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

  var h = React.createElement;

  // A key of this page load's own for every `config.freshKey` placeholder in the
  // tabs' variables (an idempotency key: 1-64 of A-Z a-z 0-9 _ -). A key written by
  // an earlier load and kept in the browser's stored tabs is replaced too, so a
  // reload never sends an old key. getRandomValues, unlike randomUUID, also works
  // outside secure contexts (a plain http:// page on another host).
  var freshKey = (function () {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return 'graphiql-' + Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? '0' : '') + b.toString(16);
    }).join('');
  })();
  function withFreshKey(variables) {
    if (typeof variables !== 'string') return variables;
    return variables
      .split(JSON.stringify(config.freshKey)).join(JSON.stringify(freshKey))
      .replace(/"graphiql-[0-9a-f]{32}"/g, JSON.stringify(freshKey));
  }
  config.tabs.forEach(function (tab) { tab.variables = withFreshKey(tab.variables); });
  // GraphiQL 4.1.2 keeps tabs in localStorage under "graphiql:tabState" and reads
  // them (hashes recomputed) before it renders.
  try {
    var stored = window.localStorage && window.localStorage.getItem('graphiql:tabState');
    if (stored) {
      var tabState = JSON.parse(stored);
      if (tabState && Array.isArray(tabState.tabs)) {
        tabState.tabs.forEach(function (tab) { tab.variables = withFreshKey(tab.variables); });
        window.localStorage.setItem('graphiql:tabState', JSON.stringify(tabState));
      }
    }
  } catch (e) {
    // Unreadable storage: GraphiQL starts from the default tabs.
  }

  // A value carried from an answer into the variables of the tab opened next
  // (`config.carry`: the id of the order a mutation placed). It replaces the
  // placeholder, or a value carried before (by this load, or by an earlier one:
  // localStorage remembers the last), in the variables of the active tab.
  var carryStorage = 'delivery-gateway:carried';
  var carried = { value: null, replaceable: [], listeners: [] };
  if (config.carry) {
    carried.replaceable.push(config.carry.placeholder);
    try {
      var before = window.localStorage && window.localStorage.getItem(carryStorage);
      if (before) carried.replaceable.push(before);
    } catch (e) {
      // No storage: only the placeholder is replaced.
    }
  }
  function catchCarry(value) {
    if (!config.carry || !value || !value.data) return;
    var found = config.carry.path.reduce(function (v, key) {
      return v && typeof v === 'object' ? v[key] : undefined;
    }, value.data);
    if (typeof found !== 'string' || found === carried.value) return;
    if (carried.value !== null) carried.replaceable.push(carried.value);
    carried.value = found;
    try {
      if (window.localStorage) window.localStorage.setItem(carryStorage, found);
    } catch (e) {
      // No storage: a reload forgets it.
    }
    carried.listeners.forEach(function (listener) { listener(found); });
  }

  // Rendered inside GraphiQL (as its footer, empty), where the editor context is:
  // writes the carried value into the active tab's variables whenever either changes.
  function CarryIntoVariables() {
    var editor = GraphiQL.React.useEditorContext({ nonNull: true });
    var state = React.useState(carried.value);
    var value = state[0];
    var setValue = state[1];
    React.useEffect(function () {
      carried.listeners.push(setValue);
      return function () {
        carried.listeners = carried.listeners.filter(function (l) { return l !== setValue; });
      };
    }, []);
    var variableEditor = editor.variableEditor;
    React.useEffect(function () {
      if (value === null || !variableEditor) return;
      var text = variableEditor.getValue();
      var next = carried.replaceable.reduce(function (t, old) {
        return t.split(JSON.stringify(old)).join(JSON.stringify(value));
      }, text);
      if (next !== text) variableEditor.setValue(next);
    }, [value, editor.activeTabIndex, variableEditor]);
    return null;
  }

  // The upstream waterfall (`extensions.upstream`, sent when the request carries
  // `X-Upstream-Trace: 1`): the fetcher keeps the latest one, the "Upstream calls"
  // panel draws it as bars on the request's time line, one row per attempt.
  var waterfall = { latest: null, listeners: [] };
  function publish(upstream) {
    waterfall.latest = upstream;
    waterfall.listeners.forEach(function (listener) { listener(upstream); });
  }
  // Subscriptions go over a WebSocket (graphql-transport-ws) to this page's own
  // origin, at the endpoint's path. GraphiQL's UMD build bundles the graphql-ws
  // client: one lazy connection per subscription, closed when it ends or is
  // stopped, whose connection_init payload is the headers pane (so its
  // Authorization). Everything else is a POST with fetch. The server has no
  // @defer/@stream, so plain requests (no multipart answers).
  var subscriptionUrl = (window.location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' +
    window.location.host + new URL(config.endpoint, window.location.href).pathname;
  var baseFetcher = GraphiQL.createFetcher({
    url: config.endpoint,
    subscriptionUrl: subscriptionUrl,
    enableIncrementalDelivery: false
  });
  function catchUpstream(value) {
    publish(value && value.extensions && value.extensions.upstream ? value.extensions.upstream : null);
    catchCarry(value);
    return value;
  }
  // A subscription's answer is a promise of an async iterable (GraphiQL's fetcher
  // is async): each of its events goes through catchUpstream too.
  function observe(result) {
    if (!result || typeof result[Symbol.asyncIterator] !== 'function') return catchUpstream(result);
    var iterator = result[Symbol.asyncIterator]();
    var wrapped = {
      next: function () {
        return iterator.next().then(function (step) {
          if (!step.done) catchUpstream(step.value);
          return step;
        });
      },
      return: function (value) {
        return iterator.return ? iterator.return(value) : Promise.resolve({ done: true, value: value });
      }
    };
    wrapped[Symbol.asyncIterator] = function () { return wrapped; };
    return wrapped;
  }
  function fetcher(params, options) {
    var result = baseFetcher(params, options);
    if (params.operationName === 'IntrospectionQuery' || !result) return result;
    if (typeof result.then === 'function') return result.then(observe);
    return observe(result);
  }

  function fixed(ms) { return (Math.round(ms * 10) / 10).toFixed(1); }

  function WaterfallPanel() {
    var state = React.useState(waterfall.latest);
    var upstream = state[0];
    var setUpstream = state[1];
    React.useEffect(function () {
      waterfall.listeners.push(setUpstream);
      return function () {
        waterfall.listeners = waterfall.listeners.filter(function (l) { return l !== setUpstream; });
      };
    }, []);
    if (!upstream) {
      return h('div', { className: 'upstream-panel' },
        h('div', { className: 'graphiql-doc-explorer-title' }, 'Upstream calls'),
        h('p', { className: 'upstream-hint' },
          'Run a query with the header "X-Upstream-Trace": "1" to see the REST calls it caused, ',
          'in the order and waves they ran.'));
    }
    var s = upstream.summary;
    var span = Math.max(s.wallMs, 0.001);
    var rows = upstream.calls.map(function (c, i) {
      var left = (100 * c.startMs) / span;
      var width = Math.max((100 * c.durationMs) / span, 0.6);
      var failed = c.error || (c.status && c.status >= 400);
      var label = c.service + ' ' + c.method + ' ' + c.route + (c.batch > 1 ? ' ×' + c.batch : '');
      var title = label + '\nwave ' + c.wave + ', attempt ' + c.attempt + ', status ' + (c.status || '-') +
        (c.error ? ' (' + c.error + ')' : '') + '\nstart ' + fixed(c.startMs) + ' ms, ' +
        fixed(c.durationMs) + ' ms' + (c.cacheHit ? ', cache hit' : '') + (c.ids ? '\nids ' + c.ids : '');
      return h('div', { className: 'upstream-row', key: i, title: title },
        h('span', { className: 'upstream-label' }, h('b', null, 'W' + c.wave), ' ', label),
        h('span', { className: 'upstream-track' },
          h('span', {
            className: 'upstream-bar upstream-wave-' + (((c.wave - 1) % 4) + 1) +
              (c.critical ? ' upstream-critical' : '') + (failed ? ' upstream-failed' : ''),
            style: { left: left + '%', width: width + '%' }
          })),
        h('span', { className: 'upstream-ms' }, fixed(c.durationMs)));
    });
    return h('div', { className: 'upstream-panel' },
      h('div', { className: 'graphiql-doc-explorer-title' }, 'Upstream calls'),
      h('p', { className: 'upstream-summary' },
        h('b', null, s.calls), ' calls in ', h('b', null, s.waves), ' waves · wall ',
        h('b', null, fixed(s.wallMs)), ' ms · critical path ', h('b', null, fixed(s.criticalPathMs)), ' ms'),
      h('div', { className: 'upstream-rows' }, rows),
      h('p', { className: 'upstream-hint' },
        'A call\'s wave is one more than the highest wave of the calls that ended before it ',
        'started; outlined bars are the critical path. Hover a row for details.'));
  }

  function WaterfallIcon() {
    return h('svg', { viewBox: '0 0 24 24', width: '1em', height: '1em', 'aria-hidden': 'true' },
      h('g', { fill: 'currentColor' },
        h('rect', { x: 2, y: 4, width: 9, height: 3, rx: 1 }),
        h('rect', { x: 8, y: 10.5, width: 8, height: 3, rx: 1 }),
        h('rect', { x: 13, y: 17, width: 9, height: 3, rx: 1 })));
  }

  var upstreamPlugin = { title: 'Upstream calls', icon: WaterfallIcon, content: WaterfallPanel };

  var props = {
    // The UMD build's counterpart of @graphiql/toolkit's createGraphiQLFetcher,
    // wrapped to catch the upstream waterfall.
    fetcher: fetcher,
    plugins: [upstreamPlugin],
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
  var children = config.carry ? h(GraphiQL.Footer, null, h(CarryIntoVariables)) : null;
  ReactDOM.createRoot(container).render(h(GraphiQL, props, children));

  // When the page asks for the waterfall by default, open its panel once GraphiQL
  // has drawn its sidebar (GraphiQL 4.1.2 ignores `visiblePlugin` at start), unless
  // another panel is already open.
  if (config.showUpstream) {
    var tries = 0;
    var open = function () {
      var button = document.querySelector('.graphiql-sidebar button[aria-label*="Upstream calls"]');
      if (button) {
        if (!document.querySelector('.graphiql-sidebar button[aria-label^="Hide "]')) button.click();
      } else if (++tries < 100) {
        window.setTimeout(open, 50);
      }
    };
    open();
  }
})();

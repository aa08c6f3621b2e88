// Starts GraphiQL on /graphql (a served file, so the page runs under script-src 'self').
// Queries and mutations are POSTed with the headers from the header editor; subscriptions
// use graphql-transport-ws, the same headers sent as the connection_init payload.
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint");
  var socket = new URL(endpoint, window.location.href);
  socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";

  function editorHeaders() {
    try {
      return JSON.parse(window.localStorage.getItem("graphiql:headers") || "{}");
    } catch (error) {
      return {};
    }
  }

  var fetcher = GraphiQL.createFetcher({
    url: new URL(endpoint, window.location.href).toString(),
    wsClient: graphqlWs.createClient({
      url: socket.toString(),
      lazy: true,
      connectionParams: editorHeaders,
    }),
  });
  ReactDOM.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      headerEditorEnabled: true,
      shouldPersistHeaders: true,
    }),
    root
  );
})();

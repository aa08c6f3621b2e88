// Starts Swagger UI on /docs. A served file rather than the inline script FastAPI's page
// carries, so the docs pages' CSP can keep script-src to 'self'. The page names the
// OpenAPI document in the container's data-openapi-url.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var container = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: container.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    persistAuthorization: false,
    validatorUrl: null, // never ask validator.swagger.io (no internet here, nor needed)
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});

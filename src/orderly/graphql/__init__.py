"""The GraphQL API (Strawberry) at ``/graphql``: the catalog, accounts and orders over the
same services and rules as REST, with per-request dataloaders, limits and problem codes."""

// The Edict extension's client: starts `edict lsp` on stdio for .edict and
// .edict.md documents. Everything else (diagnostics, hover, definition,
// completion, formatting, outline) comes from the server.
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("edict");
  const importPaths = config.get("importPaths", []);
  const args = ["lsp"];
  for (const dir of importPaths) args.push("--import-path", dir);
  const serverOptions = { command: config.get("path", "edict"), args };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "edict" },
      { scheme: "file", language: "edict-markdown" },
      { scheme: "untitled", language: "edict" },
    ],
    initializationOptions: { importPaths },
  };
  client = new LanguageClient("edict", "Edict language server", serverOptions, clientOptions);
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };

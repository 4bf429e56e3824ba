// The duty board (GET /board, docs/http-api.md): one self-contained page, its HTML, CSS and
// JavaScript compiled into the daemon (daemon/http/board/, embedded by cmake/embed_board.cmake),
// nothing fetched from the network. The page reads and acts through the API with the bearer token
// in a header; the route itself needs no token and carries no data. It is served with a
// Content-Security-Policy that allows only its own inline style and script (by SHA-256 hash) and
// connections back to this server.
#pragma once

#include <string>
#include <string_view>

namespace incidentd::http {

class Server;

// The embedded sources, as in daemon/http/board/ (board_assets.cpp, generated).
extern const std::string_view kBoardHtml;
extern const std::string_view kBoardCss;
extern const std::string_view kBoardJs;

struct BoardPage {
  std::string html;  // the page with its style and script inlined
  std::string csp;   // the Content-Security-Policy header value
};

// Built once: the page and the policy naming the hashes of its style and script.
const BoardPage& board_page();

// GET /board.
void install_board(Server& server);

}  // namespace incidentd::http

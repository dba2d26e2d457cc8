#!/usr/bin/env python3
"""An OpenAI-compatible chat-completions endpoint on loopback that answers with scripted replies.

Usage: llm_script_server.py PORT REPLY_FILE...   (serves until killed)

Each POST to /v1/chat/completions gets the next reply file's text as the assistant's message, in
order, cycling once all are used; a file whose name ends in .cut.txt is sent with finish_reason
"length" (a reply cut by the token limit). Usage counts are the text's length / 4. For GPU checks
of the LLM path (gpu-check.sh llm) with replies written by hand: no model, no network.
"""
import http.server
import itertools
import json
import sys

port = int(sys.argv[1])
replies = itertools.cycle([(open(f).read(), f.endswith(".cut.txt")) for f in sys.argv[2:]])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        prompt = json.loads(body or b"{}")
        text, cut = next(replies)
        answer = json.dumps({
            "id": "scripted", "object": "chat.completion", "model": prompt.get("model", "scripted"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if cut else "stop"}],
            "usage": {"prompt_tokens": len(body) // 4, "completion_tokens": len(text) // 4,
                      "total_tokens": (len(body) + len(text)) // 4},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()

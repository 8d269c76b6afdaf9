// A dependency-free web app: fcm runs it from the Procfile with PORT set.
const http = require('node:http');

const port = Number(process.env.PORT || 8000);
http
  .createServer((req, res) => {
    console.log(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`Hello from Node.js! ${process.env.GREETING || ''}\n`);
  })
  .listen(port, () => console.log(`listening on :${port}`));

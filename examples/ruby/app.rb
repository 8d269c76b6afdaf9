# A dependency-free web app (stdlib sockets only): fcm runs it from the Procfile with PORT set.
require 'socket'

$stdout.sync = true
port = Integer(ENV.fetch('PORT', '8000'))
server = TCPServer.new('0.0.0.0', port)
puts "listening on :#{port}"
loop do
  client = server.accept
  Thread.new(client) do |c|
    request = c.gets.to_s
    while (line = c.gets) && line != "\r\n"; end
    puts request.split(' ')[0, 2].join(' ')
    body = "Hello from Ruby! #{ENV.fetch('GREETING', '')}\n"
    c.write "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}"
    c.close
  end
end

# The app of the compose profile `app` (docs/app.md): an Elixir node with no
# clustering code and no dependencies. It only reports its Node.list(), on
# stdout, whenever it changes:
#
#   APP_NODES app@172.18.0.2 app@172.18.0.3,app@172.18.0.4
#
# (its own name, then the sorted list, comma-separated, "-" when empty).
# rollcall, its parent (`rollcall run`), does the clustering. Compiled into
# the image (docker/app.Dockerfile: elixirc) and started with
# `elixir ... -pa /opt/app -e 'App.main()'`.
defmodule App do
  def main, do: loop(nil)

  def loop(last) do
    now = Node.list() |> Enum.map(&Atom.to_string/1) |> Enum.sort()

    if now != last do
      list = if now == [], do: "-", else: Enum.join(now, ",")
      IO.puts("APP_NODES #{node()} #{list}")
    end

    Process.sleep(100)
    loop(now)
  end
end

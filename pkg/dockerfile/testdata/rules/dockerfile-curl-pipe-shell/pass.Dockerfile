FROM debian:12
RUN curl -fsSLo install.sh https://sh.example.com && echo "abc  install.sh" | sha256sum -c - && sh install.sh
RUN echo "curl x | sh" > /notes.txt
RUN curl -s https://x.example.com | tar -xz
RUN wget -O- https://x.example.com | tee /tmp/x
RUN python3 app.py $(curl -s http://169.254.169.254/latest/meta-data/instance-id)
RUN diff <(curl -s https://a.example.com) <(curl -s https://b.example.com)
RUN echo "$(curl -s https://x.example.com/version)"

FROM python:3.12-slim
RUN python3 -m pip install flask==3.0.3
RUN pip3.12 install -r requirements.txt
# want 2:5
# want 3:5
